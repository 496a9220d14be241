package ui

import (
	"html/template"
	"strconv"
	"strings"
)

func init() {
	funcs["join"] = strings.Join
	funcs["poslink"] = posLink
}

// posLink shows a place in the configuration ("file:12:5") as "line 12,
// col 5", linked to that line in the Settings editor.
func posLink(pos string) template.HTML {
	parts := strings.Split(pos, ":")
	if len(parts) < 3 {
		return template.HTML(template.HTMLEscapeString(pos))
	}
	line, err1 := strconv.Atoi(parts[len(parts)-2])
	col, err2 := strconv.Atoi(parts[len(parts)-1])
	if err1 != nil || err2 != nil {
		return template.HTML(template.HTMLEscapeString(pos))
	}
	return template.HTML(`<a class="pos" href="/admin/settings#L` + strconv.Itoa(line) + `" title="` +
		template.HTMLEscapeString(pos) + `">line ` + strconv.Itoa(line) + `, col ` + strconv.Itoa(col) + `</a>`)
}
