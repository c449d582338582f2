// `auperf version`.

package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

func init() {
	register(&cli.Command{
		Name:  "version",
		Usage: "print auperf's version and the Go toolchain that built it",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintf(c.App.Writer, "auperf %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	})
}
