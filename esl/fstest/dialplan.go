package fstest

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Dialplan is a parsed FreeSWITCH XML dialplan: contexts of extensions of conditions of
// actions (mod_dialplan_xml). Build it with ParseDialplan; it is read-only afterwards and
// may be shared by several stand-ins.
type Dialplan struct {
	Contexts map[string][]Extension
	src      []byte // the document ParseDialplan read, for xml_locate
}

// Extension is one <extension>.
type Extension struct {
	Name       string
	Continue   bool
	Conditions []Condition
}

// Condition is one <condition field expression [break]>. A condition without a field
// always matches.
type Condition struct {
	Field, Expression, Break string
	Actions, AntiActions     []Action
}

// Action is one <action application data [inline]> (or anti-action).
type Action struct {
	App, Data string
	Inline    bool
}

type xmlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []xmlNode  `xml:",any"`
}

func (n *xmlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// ParseDialplan parses the standard XML dialplan format. Contexts are found anywhere in
// the document (<include>, <document><section name="dialplan">, or a bare <context>).
// Errors: malformed XML, a bad regular expression, or an action without application.
func ParseDialplan(data []byte) (*Dialplan, error) {
	var root xmlNode
	if err := xml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("fstest: dialplan XML: %w", err)
	}
	dp := &Dialplan{Contexts: map[string][]Extension{}, src: append([]byte(nil), data...)}
	var walk func(n *xmlNode) error
	walk = func(n *xmlNode) error {
		if n.XMLName.Local == "context" {
			name := n.attr("name")
			for i := range n.Children {
				e := &n.Children[i]
				if e.XMLName.Local != "extension" {
					continue
				}
				ext, err := parseExtension(e)
				if err != nil {
					return fmt.Errorf("context %s: %w", name, err)
				}
				dp.Contexts[name] = append(dp.Contexts[name], ext)
			}
			return nil
		}
		for i := range n.Children {
			if err := walk(&n.Children[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(&root); err != nil {
		return nil, fmt.Errorf("fstest: dialplan: %w", err)
	}
	return dp, nil
}

// MustParseDialplan is ParseDialplan for tests: it panics on error.
func MustParseDialplan(data []byte) *Dialplan {
	dp, err := ParseDialplan(data)
	if err != nil {
		panic(err)
	}
	return dp
}

func parseExtension(e *xmlNode) (Extension, error) {
	ext := Extension{Name: e.attr("name"), Continue: isTrue(e.attr("continue"))}
	for i := range e.Children {
		c := &e.Children[i]
		if c.XMLName.Local != "condition" {
			continue
		}
		cond := Condition{Field: c.attr("field"), Expression: c.attr("expression"), Break: c.attr("break")}
		if cond.Expression != "" {
			if _, err := regexp.Compile(cond.Expression); err != nil {
				return ext, fmt.Errorf("extension %s: expression %q: %w", ext.Name, cond.Expression, err)
			}
		}
		for j := range c.Children {
			a := &c.Children[j]
			act := Action{App: a.attr("application"), Data: a.attr("data"), Inline: isTrue(a.attr("inline"))}
			switch a.XMLName.Local {
			case "action":
				if act.App == "" {
					return ext, fmt.Errorf("extension %s: action without application", ext.Name)
				}
				cond.Actions = append(cond.Actions, act)
			case "anti-action":
				cond.AntiActions = append(cond.AntiActions, act)
			}
		}
		ext.Conditions = append(ext.Conditions, cond)
	}
	return ext, nil
}

// Hunt returns the actions a call would run in context, as mod_dialplan_xml would
// collect them, with $N captures already substituted (${vars} are expanded only when each
// action runs). field resolves a condition field (e.g. "destination_number",
// "${callrec_on}"); inline runs inline actions during the hunt. fsconf's tests may call it
// directly. A context that does not exist gives nil.
func (dp *Dialplan) Hunt(context string, field func(string) string, inline func(Action)) []Action {
	if dp == nil {
		return nil
	}
	var out []Action
	for _, ext := range dp.Contexts[context] {
		var acts []Action
		matched, anti := true, false
		for _, c := range ext.Conditions {
			ok, caps := true, []string(nil)
			if c.Field != "" || c.Expression != "" {
				v := field(c.Field)
				re := regexp.MustCompile(c.Expression)
				caps = re.FindStringSubmatch(v)
				ok = caps != nil
			}
			list := c.Actions
			if !ok {
				list = c.AntiActions
				matched = false
				anti = anti || len(list) > 0
			}
			for _, a := range list {
				a.Data = substCaptures(a.Data, caps)
				if a.Inline && inline != nil {
					inline(a)
					continue
				}
				acts = append(acts, a)
			}
			brk := c.Break
			if brk == "" {
				brk = "on-false"
			}
			if (brk == "on-false" && !ok) || (brk == "on-true" && ok) || brk == "always" {
				break
			}
		}
		// mod_dialplan_xml: an extension whose conditions passed, or that added
		// anti-actions, ends the hunt unless it has continue="true".
		out = append(out, acts...)
		if (matched || anti) && !ext.Continue {
			return out
		}
	}
	return out
}

var captureRE = regexp.MustCompile(`\$(\d)`)

func substCaptures(s string, caps []string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return captureRE.ReplaceAllStringFunc(s, func(m string) string {
		i, _ := strconv.Atoi(m[1:])
		if i < len(caps) {
			return caps[i]
		}
		return ""
	})
}

// fieldLocked resolves a condition field for l.
func (l *Leg) fieldLocked(f string) string {
	switch f {
	case "destination_number":
		return l.cp.Dest
	case "caller_id_number":
		return l.cp.CIDNum
	case "caller_id_name":
		return l.cp.CIDName
	case "ani":
		return l.cp.ANI
	case "context":
		return l.cp.Context
	case "network_addr":
		return l.cp.Network
	case "rdnis":
		return l.cp.RDNIS
	case "uuid":
		return l.uuid
	case "source":
		return l.cp.Source
	case "chan_name":
		return l.name
	case "dialplan":
		return l.cp.Dialplan
	}
	if strings.Contains(f, "${") {
		return l.expandLocked(f)
	}
	return l.vars.get(f)
}

// expandLocked is switch_channel_expand_variables for the subset the stand-in knows:
// ${var}, ${strftime(fmt)}, and caller profile names.
func (l *Leg) expandLocked(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		depth, j := 0, i+2
		for ; j < len(s); j++ {
			if s[j] == '{' {
				depth++
			} else if s[j] == '}' {
				if depth == 0 {
					break
				}
				depth--
			}
		}
		if j >= len(s) {
			b.WriteString(s[i:])
			return b.String()
		}
		name := l.expandLocked(s[i+2 : j])
		b.WriteString(l.lookupLocked(name))
		s = s[j+1:]
	}
}

func (l *Leg) lookupLocked(name string) string {
	if arg, ok := strings.CutPrefix(name, "strftime("); ok {
		return strftime(strings.TrimSuffix(arg, ")"), l.fs.clock.Now())
	}
	if v := l.vars.get(name); v != "" {
		return v
	}
	switch name {
	case "uuid":
		return l.uuid
	case "destination_number", "caller_id_number", "caller_id_name", "ani", "context", "network_addr", "rdnis":
		return l.fieldLocked(name)
	}
	return ""
}

func strftime(f string, t time.Time) string {
	r := strings.NewReplacer("%Y", "2006", "%m", "01", "%d", "02", "%H", "15", "%M", "04", "%S", "05")
	layout := r.Replace(f)
	return t.Format(layout)
}
