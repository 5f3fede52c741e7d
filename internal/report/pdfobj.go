package report

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
)

// This file holds the two small halves of the PDF stitcher that lets a huge
// report render in bounded memory (see pdf.go):
//
//   - pdfFile reads the objects of a PDF that fpdf wrote: a classic xref
//     table, direct stream lengths, no object streams, no encryption.
//   - pdfOut writes a PDF object by object to a stream and keeps only the
//     byte offset of each object for the final xref table.

// pdfFile is a parsed, in-memory PDF as fpdf writes it.
type pdfFile struct {
	data    []byte
	offsets []int // offsets[n] is where object n starts; 0 for free entries
	trailer []byte
}

var (
	reStartXref = regexp.MustCompile(`startxref\s+(\d+)\s+%%EOF\s*$`)
	reObjHeader = regexp.MustCompile(`^\s*(\d+)\s+0\s+obj\b`)
	reRef       = regexp.MustCompile(`\b(\d+) 0 R\b`)
)

func parsePDF(data []byte) (*pdfFile, error) {
	m := reStartXref.FindSubmatch(data)
	if m == nil {
		return nil, errors.New("parse pdf: no startxref")
	}
	xref, err := strconv.Atoi(string(m[1]))
	if err != nil || xref >= len(data) {
		return nil, fmt.Errorf("parse pdf: bad startxref %q", m[1])
	}
	rest := data[xref:]
	if !bytes.HasPrefix(rest, []byte("xref")) {
		return nil, errors.New("parse pdf: startxref does not point at an xref table")
	}
	sc := bufio.NewScanner(bytes.NewReader(rest))
	sc.Scan() // "xref"
	if !sc.Scan() {
		return nil, errors.New("parse pdf: truncated xref")
	}
	var first, count int
	if _, err := fmt.Sscanf(sc.Text(), "%d %d", &first, &count); err != nil || first != 0 || count < 1 {
		return nil, fmt.Errorf("parse pdf: unsupported xref subsection %q", sc.Text())
	}
	f := &pdfFile{data: data, offsets: make([]int, count)}
	for i := range count {
		if !sc.Scan() {
			return nil, errors.New("parse pdf: truncated xref")
		}
		var off, gen int
		var kind string
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %s", &off, &gen, &kind); err != nil {
			return nil, fmt.Errorf("parse pdf: bad xref entry %q", sc.Text())
		}
		if kind == "n" {
			if off <= 0 || off >= len(data) {
				return nil, fmt.Errorf("parse pdf: object %d offset %d out of range", i, off)
			}
			f.offsets[i] = off
		}
	}
	i := bytes.Index(rest, []byte("trailer"))
	if i < 0 {
		return nil, errors.New("parse pdf: no trailer")
	}
	end, err := skipDict(rest, i+len("trailer"))
	if err != nil {
		return nil, fmt.Errorf("parse pdf trailer: %w", err)
	}
	f.trailer = rest[i+len("trailer") : end]
	return f, nil
}

// object returns the value of object n (a dictionary, array, …) and, for a
// stream object, the raw stream bytes. Both alias the file's data.
func (f *pdfFile) object(n int) (value, stream []byte, err error) {
	if n <= 0 || n >= len(f.offsets) || f.offsets[n] == 0 {
		return nil, nil, fmt.Errorf("read object %d: not in xref", n)
	}
	d := f.data[f.offsets[n]:]
	m := reObjHeader.FindSubmatch(d)
	if m == nil || string(m[1]) != strconv.Itoa(n) {
		return nil, nil, fmt.Errorf("read object %d: no object header at its offset", n)
	}
	start := len(m[0])
	end, err := skipValue(d, start)
	if err != nil {
		return nil, nil, fmt.Errorf("read object %d: %w", n, err)
	}
	value = bytes.TrimSpace(d[start:end])
	after := skipSpace(d, end)
	if !bytes.HasPrefix(d[after:], []byte("stream")) {
		if !bytes.HasPrefix(d[after:], []byte("endobj")) {
			return nil, nil, fmt.Errorf("read object %d: no endobj", n)
		}
		return value, nil, nil
	}
	p := after + len("stream")
	if p < len(d) && d[p] == '\r' {
		p++
	}
	if p >= len(d) || d[p] != '\n' {
		return nil, nil, fmt.Errorf("read object %d: stream keyword not followed by EOL", n)
	}
	p++
	length, ok := dictInt(value, "Length")
	if !ok || length < 0 || p+length > len(d) {
		return nil, nil, fmt.Errorf("read object %d: bad or indirect /Length", n)
	}
	stream = d[p : p+length]
	if !bytes.HasPrefix(bytes.TrimLeft(d[p+length:], "\r\n"), []byte("endstream")) {
		return nil, nil, fmt.Errorf("read object %d: stream length does not reach endstream", n)
	}
	return value, stream, nil
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && isPDFSpace(d[i]) {
		i++
	}
	return i
}

func isPDFSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

// skipValue returns the end of the direct value starting at or after i. It
// understands dictionaries, arrays, strings and hex strings well enough to
// find their ends; any other token ends at "stream"/"endobj" or a newline.
func skipValue(d []byte, i int) (int, error) {
	i = skipSpace(d, i)
	if i >= len(d) {
		return 0, io.ErrUnexpectedEOF
	}
	switch {
	case bytes.HasPrefix(d[i:], []byte("<<")):
		return skipDict(d, i)
	case d[i] == '[':
		return skipNested(d, i)
	}
	for j := i; j < len(d); j++ {
		if d[j] == '\n' || d[j] == '\r' || bytes.HasPrefix(d[j:], []byte("endobj")) {
			return j, nil
		}
	}
	return 0, io.ErrUnexpectedEOF
}

// skipDict returns the index just past the dictionary that starts at or
// after i.
func skipDict(d []byte, i int) (int, error) {
	i = skipSpace(d, i)
	if !bytes.HasPrefix(d[i:], []byte("<<")) {
		return 0, errors.New("expected a dictionary")
	}
	return skipNested(d, i)
}

// skipNested scans balanced << >> and [ ] from i, stepping over (strings)
// and <hex strings>, and returns the index just past the outermost closer.
func skipNested(d []byte, i int) (int, error) {
	depth := 0
	for i < len(d) {
		c := d[i]
		switch {
		case c == '(':
			j, err := skipLiteral(d, i)
			if err != nil {
				return 0, err
			}
			i = j
			continue
		case c == '<' && i+1 < len(d) && d[i+1] == '<':
			depth++
			i += 2
		case c == '>' && i+1 < len(d) && d[i+1] == '>':
			depth--
			i += 2
		case c == '<':
			j := bytes.IndexByte(d[i:], '>')
			if j < 0 {
				return 0, io.ErrUnexpectedEOF
			}
			i += j + 1
		case c == '[':
			depth++
			i++
		case c == ']':
			depth--
			i++
		case c == '%':
			for i < len(d) && d[i] != '\n' && d[i] != '\r' {
				i++
			}
		default:
			i++
		}
		if depth == 0 {
			return i, nil
		}
		if depth < 0 {
			return 0, errors.New("unbalanced delimiters")
		}
	}
	return 0, io.ErrUnexpectedEOF
}

func skipLiteral(d []byte, i int) (int, error) {
	depth := 0
	for ; i < len(d); i++ {
		switch d[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, io.ErrUnexpectedEOF
}

// dictInt finds a direct "/Key <int>" in a dictionary's text.
func dictInt(dict []byte, key string) (int, bool) {
	m := regexp.MustCompile(`/` + key + `\s+(\d+)(\s+\d+\s+R\b)?`).FindSubmatch(dict)
	if m == nil || len(m[2]) > 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(m[1]))
	return n, err == nil
}

// dictRef finds "/Key n 0 R" in a dictionary's text.
func dictRef(dict []byte, key string) (int, bool) {
	m := regexp.MustCompile(`/` + key + `\s+(\d+)\s+0\s+R\b`).FindSubmatch(dict)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(string(m[1]))
	return n, err == nil
}

// dictEntry returns the raw value after "/Key" when it is an array or a
// dictionary.
func dictEntry(dict []byte, key string) ([]byte, bool) {
	loc := regexp.MustCompile(`/` + key + `\s*[\[<]`).FindIndex(dict)
	if loc == nil {
		return nil, false
	}
	start := loc[1] - 1
	end, err := skipNested(dict, start)
	if err != nil {
		return nil, false
	}
	return dict[start:end], true
}

// refs lists every "n 0 R" in a value, in order.
func refs(value []byte) []int {
	var out []int
	for _, m := range reRef.FindAllSubmatch(value, -1) {
		n, err := strconv.Atoi(string(m[1]))
		if err == nil {
			out = append(out, n)
		}
	}
	return out
}

// renumber rewrites every "n 0 R" in a value through the map.
func renumber(value []byte, to map[int]int) []byte {
	return reRef.ReplaceAllFunc(value, func(m []byte) []byte {
		n, _ := strconv.Atoi(string(reRef.FindSubmatch(m)[1]))
		return fmt.Appendf(nil, "%d 0 R", to[n])
	})
}

// pdfOut writes a PDF one object at a time. Memory is one offset per object.
type pdfOut struct {
	w       *bufio.Writer
	n       int64   // bytes written so far
	offsets []int64 // offsets[obj]; -1 until written
	err     error
}

func newPDFOut(w io.Writer, version string) *pdfOut {
	o := &pdfOut{w: bufio.NewWriterSize(w, 256<<10), offsets: []int64{0}}
	// The comment with high bytes marks the file as binary for transports.
	o.printf("%%PDF-%s\n%%\xe2\xe3\xcf\xd3\n", version)
	return o
}

func (o *pdfOut) write(p []byte) {
	if o.err != nil {
		return
	}
	n, err := o.w.Write(p)
	o.n += int64(n)
	o.err = err
}

func (o *pdfOut) printf(format string, args ...any) {
	o.write(fmt.Appendf(nil, format, args...))
}

// alloc reserves the next object number.
func (o *pdfOut) alloc() int {
	o.offsets = append(o.offsets, -1)
	return len(o.offsets) - 1
}

// object writes object n with a direct value and an optional stream.
func (o *pdfOut) object(n int, value []byte, stream []byte) {
	if n <= 0 || n >= len(o.offsets) || o.offsets[n] >= 0 {
		if o.err == nil {
			o.err = fmt.Errorf("write object %d: not reserved or written twice", n)
		}
		return
	}
	o.offsets[n] = o.n
	o.printf("%d 0 obj\n", n)
	o.write(value)
	if stream != nil {
		o.write([]byte("\nstream\n"))
		o.write(stream)
		o.write([]byte("\nendstream"))
	}
	o.write([]byte("\nendobj\n"))
}

// finish writes the xref table and the trailer and flushes.
func (o *pdfOut) finish(root, info int, id []byte) error {
	for n := 1; n < len(o.offsets); n++ {
		if o.offsets[n] < 0 && o.err == nil {
			o.err = fmt.Errorf("finish pdf: object %d reserved but never written", n)
		}
	}
	xref := o.n
	o.printf("xref\n0 %d\n0000000000 65535 f \n", len(o.offsets))
	for n := 1; n < len(o.offsets); n++ {
		o.printf("%010d 00000 n \n", o.offsets[n])
	}
	o.printf("trailer\n<</Size %d /Root %d 0 R /Info %d 0 R /ID [<%x> <%x>]>>\nstartxref\n%d\n%%%%EOF\n",
		len(o.offsets), root, info, id, id, xref)
	if o.err != nil {
		return o.err
	}
	if err := o.w.Flush(); err != nil {
		return fmt.Errorf("flush pdf: %w", err)
	}
	return nil
}
