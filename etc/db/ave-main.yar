// AVE's own rules, shipped with the default database.
//
// Conventions of the engine:
//   - meta name = "..."       the name reported for a match (default: the rule name)
//   - meta status = "suspicious" or the tag `suspicious` makes a match SUSPICIOUS
//     instead of INFECTED
//   - external variables: filename (last path element), filetype (content
//     type: pe, elf, zip, mail, text, ...), depth (0 = the scanned object
//     itself, 1 = a member of it, ...), path (the object's path)

rule AVE_EICAR_Test_File
{
    meta:
        name = "EICAR-Test-File"
        description = "The EICAR anti-virus test file (not a virus)"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar at 0 and filesize <= 128
}

rule AVE_Suspicious_DoubleExtension_Executable : suspicious
{
    meta:
        name = "AVE.Suspicious.DoubleExtension.Executable"
        description = "An executable inside a container, named as a document (invoice.pdf.exe)"
    condition:
        depth > 0
        and filename matches /\.(pdf|docx?|xlsx?|pptx?|rtf|txt|jpe?g|png|gif|bmp|html?|zip|rar|mp3|mp4|avi)[ \t._-]*\.(exe|scr|pif|com|bat|cmd|cpl|msi|dll|lnk)$/is
        and (uint16(0) == 0x5A4D or uint32(0) == 0x464C457F or filetype == "pe" or filetype == "elf")
}

rule AVE_Suspicious_DoubleExtension_Script : suspicious
{
    meta:
        name = "AVE.Suspicious.DoubleExtension.Script"
        description = "A script inside a container, named as a document (report.pdf.js)"
    condition:
        depth > 0
        and filename matches /\.(pdf|docx?|xlsx?|pptx?|rtf|txt|jpe?g|png|gif|html?)[ \t._-]*\.(js|jse|vbs|vbe|wsf|wsh|hta|ps1)$/is
}
