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
	register("version", "print version and build information", func(_ context.Context, _ []string, w io.Writer) error {
		fmt.Fprintln(w, version.String())
		fmt.Fprintln(w, "targets: "+strings.Join(targets.Types(), ", "))
		return nil
	})
}
