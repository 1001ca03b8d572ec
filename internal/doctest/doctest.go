// Package doctest reads the fenced blocks of the project's Markdown
// documents, so that tests can run or check every example they show.
//
// A block may be preceded by a marker comment saying what it is, e.g.
// <!-- error --> before a rules file that must fail to load; the marker is
// invisible when the document is rendered.
package doctest

import (
	"bufio"
	"bytes"
	"os"
	"strings"
)

// Block is one fenced block of a document.
type Block struct {
	Lang   string // the fence's info string: yaml, sh, text…
	Marker string // the text of an <!-- marker --> on the line before, or ""
	Text   string // the content, with a final newline
	Line   int    // 1-based line of the opening fence
	// Section is the title of the nearest heading above the block.
	Section string
}

// Doc is a parsed document: its blocks and its lines.
type Doc struct {
	Path   string
	Lines  []string
	Blocks []Block
}

// Parse reads the fenced blocks of the Markdown file at path.
func Parse(path string) (*Doc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := &Doc{Path: path}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		d.Lines = append(d.Lines, sc.Text())
	}
	section, marker := "", ""
	for i := 0; i < len(d.Lines); i++ {
		line := d.Lines[i]
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#"):
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
			marker = ""
		case strings.HasPrefix(trimmed, "<!--") && strings.HasSuffix(trimmed, "-->"):
			marker = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(trimmed, "<!--"), "-->"))
		case strings.HasPrefix(trimmed, "```"):
			b := Block{Lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), Marker: marker, Line: i + 1, Section: section}
			indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
			var text strings.Builder
			for i++; i < len(d.Lines) && strings.TrimSpace(d.Lines[i]) != "```"; i++ {
				text.WriteString(strings.TrimPrefix(d.Lines[i], indent))
				text.WriteByte('\n')
			}
			b.Text = text.String()
			d.Blocks = append(d.Blocks, b)
			marker = ""
		case trimmed != "":
			marker = ""
		}
	}
	return d, sc.Err()
}

// TableRows returns the cells of the table rows under the heading titled
// section (up to the next heading of any level), header and separator rows
// excluded.
func (d *Doc) TableRows(section string) [][]string {
	var rows [][]string
	in, header := false, false
	for _, line := range d.Lines {
		if strings.HasPrefix(line, "#") {
			in = strings.TrimSpace(strings.TrimLeft(line, "#")) == section
			header = true
			continue
		}
		t := strings.TrimSpace(line)
		if !in || !strings.HasPrefix(t, "|") {
			if t == "" {
				header = true
			}
			continue
		}
		if header { // the first row of a table is its header
			header = false
			continue
		}
		if strings.HasPrefix(t, "|---") || strings.HasPrefix(t, "| ---") {
			continue
		}
		cells := strings.Split(strings.Trim(t, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}
