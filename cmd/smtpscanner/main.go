// Command smtpscanner is not built yet: see the open issue for it. This
// placeholder only keeps the required layout and says so when run.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "smtpscanner: not implemented yet in this release; see README (Status)")
	os.Exit(2)
}
