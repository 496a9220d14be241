package ui

import (
	"html/template"
	"strconv"
	"strings"

	"github.com/sluice-gateway/sluice/engine"
)

func init() {
	funcs["join"] = strings.Join
	funcs["refusal"] = refusalText
	funcs["poslink"] = posLink
}

// refusalText says what a decision's refusal code means.
func refusalText(code string) string {
	switch code {
	case engine.CodeNoRole:
		return "no role: no grant makes this caller a user or an admin"
	case engine.CodeNoModel:
		return "no grant lets this caller use this provider and model"
	case engine.CodeDenied:
		return "a deny rule fired"
	}
	return code
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
