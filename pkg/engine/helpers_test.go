package engine

import "ave/pkg/yarascan"

func yarascanVars() yarascan.Vars { return yarascan.Vars{Filename: "x"} }
