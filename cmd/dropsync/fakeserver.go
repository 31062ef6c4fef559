package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dropsync/dropsync/targets"
)

func init() {
	register("fake-server", "serve one API's fake server, to try a configuration", cmdFakeServer)
}

func cmdFakeServer(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlags("fake-server", "--api NAME [--listen ADDR]")
	api := fs.String("api", "", "which API: "+strings.Join(targets.FakeTypes(), ", "))
	listen := fs.String("listen", "127.0.0.1:8765", "address to serve on")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *api == "" {
		return fmt.Errorf("fake-server: --api is required (%s)", strings.Join(targets.FakeTypes(), ", "))
	}
	fake, err := targets.NewFake(*api)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("fake-server: %w", err)
	}
	base := "http://" + ln.Addr().String()
	setup := fake.Setup(base)
	fmt.Fprintf(w, "fake %s server listening on %s\n\n", *api, base)
	for _, n := range setup.Notes {
		fmt.Fprintln(w, "  "+n)
	}
	watchExtra := ""
	if setup.OnConflict != "" {
		watchExtra = "\n    on_conflict: " + setup.OnConflict
	}
	fmt.Fprintf(w, "\nA target and watch for it:\n\ntargets:\n  fake:\n%s\nwatches:\n  - path: /path/to/inbox\n    target: fake\n    destination: %s%s\n\nCtrl-C stops it.\n",
		indentLines(setup.Target, "    "), setup.Destination, watchExtra)
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func indentLines(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n")
}
