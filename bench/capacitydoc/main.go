// Command capacitydoc writes docs/capacity.md from the figures that the
// bench harness's capacity stage measured (bench/capacity.json), without
// measuring again:
//
//	go run ./bench/capacitydoc -in bench/capacity.json -out docs/capacity.md
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/reportd/reportd/bench/capacity"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "capacitydoc:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("capacitydoc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "bench/capacity.json", "the measured figures")
	out := fs.String("out", "docs/capacity.md", "the document to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := capacity.Load(*in)
	if err != nil {
		return err
	}
	md := capacity.Markdown(f, capacity.DefaultAssumptions(), *in)
	if err := os.WriteFile(*out, []byte(md), 0o644); err != nil { //nolint:gosec // a world-readable file of the repository
		return fmt.Errorf("write %s: %w", *out, err)
	}
	return nil
}
