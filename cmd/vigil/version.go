package main

import (
	"fmt"
	"runtime/debug"
)

// version and commit are set at build time (make build passes
// -ldflags "-X main.version=… -X main.commit=…"); without them the build
// information Go records in the binary is used.
var version, commit = "", ""

// versionString says which vigil this is: version, commit and Go version,
// from the build information Go records in every binary.
func versionString() string {
	v, rev, modified, goVersion := version, commit, false, "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if rev == "" {
		rev = "unknown"
	}
	if modified {
		rev += " (modified)"
	}
	return fmt.Sprintf("vigil %s\ncommit %s\n%s", v, rev, goVersion)
}
