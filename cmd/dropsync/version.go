package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/dropsync/dropsync/internal/version"
	"github.com/dropsync/dropsync/targets"
)

func init() {
	register("version", "print version and build information (also dropsync --version)", func(_ context.Context, args []string, w io.Writer) error {
		if _, err := parseFlags(newFlags("version", ""), args); err != nil {
			return err
		}
		fmt.Fprintln(w, version.String())
		fmt.Fprintln(w, "targets: "+strings.Join(targets.Types(), ", "))
		return nil
	})
}
