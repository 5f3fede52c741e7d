// Package ids mints the prefixed, random identifiers that reportd exposes
// (rep_…, msg_…, cli_…), so a glance at an id tells what it names.
package ids
