package fstest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"sort"
	"strings"
)

// xnode is an element as FreeSWITCH's XML parser (switch_xml.c, an ezxml) keeps it: the
// attributes in document order, all character content of the element concatenated in txt
// (whitespace included, comments dropped), and for each child the offset in txt where it stood.
type xnode struct {
	name     string
	attrs    [][2]string
	txt      string
	children []*xnode
	offs     []int
}

func (n *xnode) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a[0] == name {
			return a[1], true
		}
	}
	return "", false
}

// add appends child c at the current end of n's text.
func (n *xnode) add(c *xnode) *xnode {
	n.offs = append(n.offs, len(n.txt))
	n.children = append(n.children, c)
	return c
}

// findChild is switch_xml_find_child: without all three of name, attr and value it is n
// itself; else the first child element called name whose attribute attr equals value, ignoring
// case (strcasecmp), or nil.
func (n *xnode) findChild(name, attr, value string) *xnode {
	if name == "" || attr == "" || value == "" {
		return n
	}
	for _, c := range n.children {
		if c.name != name {
			continue
		}
		if v, ok := c.attr(attr); ok && strings.EqualFold(v, value) {
			return c
		}
	}
	return nil
}

// parseXNodes parses data and returns its root element, keeping character content the way
// switch_xml_parse_str does. Comments, processing instructions and directives are dropped.
func parseXNodes(data []byte) (*xnode, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = false
	var root *xnode
	var stack []*xnode
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &xnode{name: qname(t.Name)}
			for _, a := range t.Attr {
				n.attrs = append(n.attrs, [2]string{qname(a.Name), a.Value})
			}
			if len(stack) == 0 {
				if root == nil {
					root = n
				}
			} else {
				stack[len(stack)-1].add(n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].txt += string(t)
			}
		}
	}
	if root == nil {
		return nil, errors.New("fstest: no root element")
	}
	return root, nil
}

func qname(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

// toXML serialises n as switch_xml_toxml(n, SWITCH_FALSE) does (switch_xml.c
// switch_xml_toxml_r): no XML declaration; the text that stood before each child is written
// back, then, if the output ends in '>', a newline; each element is indented two spaces per
// level; an element without children or text is closed with "/>\n", others with "</name>\n";
// attribute values escape & < > " LF TAB CR, text escapes & < > CR; a repeated attribute
// name is written once.
func (n *xnode) toXML() string {
	w := &xmlWriter{}
	w.element(n)
	return w.b.String()
}

type xmlWriter struct {
	b     strings.Builder
	count int
}

func (w *xmlWriter) last() byte {
	s := w.b.String()
	if s == "" {
		return 0
	}
	return s[len(s)-1]
}

func (w *xmlWriter) indent() {
	for i := 0; i < w.count; i++ {
		w.b.WriteString("  ")
	}
}

func (w *xmlWriter) element(n *xnode) {
	if w.b.Len() > 0 && w.last() == '>' {
		w.b.WriteByte('\n')
	}
	w.indent()
	w.b.WriteString("<" + n.name)
	seen := map[string]bool{}
	for _, a := range n.attrs {
		if seen[a[0]] {
			continue
		}
		seen[a[0]] = true
		w.b.WriteString(" " + a[0] + `="` + ampEncode(a[1], true) + `"`)
	}
	if len(n.children) == 0 && n.txt == "" {
		w.b.WriteString("/>\n")
		return
	}
	w.b.WriteByte('>')
	if len(n.children) > 0 {
		w.count++
		start := 0
		for i, c := range n.children {
			off := min(n.offs[i], len(n.txt))
			w.b.WriteString(ampEncode(n.txt[start:off], false))
			w.element(c)
			start = off
		}
		if w.count > 0 {
			w.count--
		}
		w.b.WriteString(ampEncode(n.txt[start:], false))
	} else {
		w.b.WriteString(ampEncode(n.txt, false))
	}
	if w.last() == '\n' {
		w.indent()
	}
	w.b.WriteString("</" + n.name + ">\n")
}

// ampEncode is switch_xml_ampencode for ASCII: attribute values (attr) also escape the double
// quote, LF and TAB.
func ampEncode(s string, attr bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			if attr {
				b.WriteString("&quot;")
			} else {
				b.WriteByte(c)
			}
		case '\n':
			if attr {
				b.WriteString("&#xA;")
			} else {
				b.WriteByte(c)
			}
		case '\t':
			if attr {
				b.WriteString("&#x9;")
			} else {
				b.WriteByte(c)
			}
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// xmlRootLocked is the stand-in's loaded XML registry (switch_xml_root): a freeswitch/xml
// document with the dialplan section (the contexts of the loaded dialplan, as its source had them)
// and the configuration section holding sofia.conf built from the profiles.
func (fs *FS) xmlRootLocked() *xnode {
	doc := &xnode{name: "document", attrs: [][2]string{{"type", "freeswitch/xml"}}}
	dp := doc.add(&xnode{name: "section", attrs: [][2]string{{"name", "dialplan"}, {"description", "Regex/XML Dialplan"}}})
	for _, c := range fs.dialplanContexts() {
		dp.add(c)
	}
	conf := doc.add(&xnode{name: "section", attrs: [][2]string{{"name", "configuration"}, {"description", "Various Configuration"}}})
	conf.add(fs.sofiaConf())
	return doc
}

// dialplanContexts returns the <context> elements of the dialplan: re-parsed from the source
// ParseDialplan read (whitespace and attributes the stand-in ignores included), or built from
// Dialplan.Contexts for a dialplan assembled in code (contexts sorted by name).
func (fs *FS) dialplanContexts() []*xnode {
	dp := fs.dialplan // the loaded one: SetDialplan takes effect only with reloadxml, as xml_locate shows
	if dp == nil {
		return nil
	}
	if dp.src != nil {
		if root, err := parseXNodes(dp.src); err == nil {
			var out []*xnode
			var walk func(n *xnode)
			walk = func(n *xnode) {
				if n.name == "context" {
					out = append(out, n)
					return
				}
				for _, c := range n.children {
					walk(c)
				}
			}
			walk(root)
			return out
		}
	}
	names := make([]string, 0, len(dp.Contexts))
	for name := range dp.Contexts {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*xnode
	for _, name := range names {
		ctx := &xnode{name: "context", attrs: [][2]string{{"name", name}}}
		for _, ext := range dp.Contexts[name] {
			e := ctx.add(&xnode{name: "extension", attrs: [][2]string{{"name", ext.Name}}})
			if ext.Continue {
				e.attrs = append(e.attrs, [2]string{"continue", "true"})
			}
			for _, c := range ext.Conditions {
				cn := e.add(&xnode{name: "condition"})
				for _, a := range [][2]string{{"field", c.Field}, {"expression", c.Expression}, {"break", c.Break}} {
					if a[1] != "" {
						cn.attrs = append(cn.attrs, a)
					}
				}
				for _, list := range []struct {
					tag  string
					acts []Action
				}{{"action", c.Actions}, {"anti-action", c.AntiActions}} {
					for _, a := range list.acts {
						an := cn.add(&xnode{name: list.tag, attrs: [][2]string{{"application", a.App}}})
						if a.Data != "" {
							an.attrs = append(an.attrs, [2]string{"data", a.Data})
						}
						if a.Inline {
							an.attrs = append(an.attrs, [2]string{"inline", "true"})
						}
					}
				}
			}
		}
		out = append(out, ctx)
	}
	return out
}

// sofiaConf is sofia.conf as FreeSWITCH holds it once the pre-processor has included the
// profiles: one <profile> per profile of Options, its <settings> the params that give the
// Profile's behaviour (Profile.Params first, then record-path, record-template,
// fire-transfer-events, confirm-blind-transfer, disable-transfer as set). sofia.c
// config_sofia reads the params in order, so a later one of the same name wins.
func (fs *FS) sofiaConf() *xnode {
	conf := &xnode{name: "configuration", attrs: [][2]string{{"name", "sofia.conf"}, {"description", "sofia Endpoint"}}}
	gs := conf.add(&xnode{name: "global_settings"})
	gs.add(&xnode{name: "param", attrs: [][2]string{{"name", "log-level"}, {"value", "0"}}})
	profiles := conf.add(&xnode{name: "profiles"})
	for _, p := range append([]Profile{fs.opts.Profile}, fs.opts.Profiles...) {
		pn := profiles.add(&xnode{name: "profile", attrs: [][2]string{{"name", p.Name}}})
		settings := pn.add(&xnode{name: "settings"})
		param := func(name, value string) {
			settings.add(&xnode{name: "param", attrs: [][2]string{{"name", name}, {"value", value}}})
		}
		for _, kv := range p.Params {
			param(kv[0], kv[1])
		}
		if p.RecordPath != "" {
			param("record-path", p.RecordPath)
		}
		if p.RecordTemplate != "" {
			param("record-template", p.RecordTemplate)
		}
		if p.FireTransferEvents {
			param("fire-transfer-events", "true")
		}
		if p.ConfirmBlindTransfer {
			param("confirm-blind-transfer", "true")
		}
		if p.DisableTransfer {
			param("disable-transfer", "true")
		}
	}
	return conf
}

// xmlLocateLocked is the api xml_locate (mod_commands.c xml_locate_function, ~line 1825):
// "root" gives the whole registry; one argument its section; four arguments (section, tag,
// attribute, value) the first element of that section matching them (switch_xml_locate, then
// switch_xml_find_child). Two or three arguments, or none, answer "-ERR bad args"; nothing
// found answers "can't find anything". The stand-in has no mod_xml_curl bindings.
func (fs *FS) xmlLocateLocked(args string) string {
	argv := separateBlank(args, 4)
	if len(argv) == 0 {
		return "-ERR bad args\n"
	}
	root := fs.xmlRootLocked()
	if len(argv) == 1 && strings.EqualFold(argv[0], "root") {
		return root.toXML()
	}
	if len(argv) != 1 && len(argv) != 4 {
		return "-ERR bad args\n"
	}
	sec := root.findChild("section", "name", argv[0])
	if sec == nil {
		return "can't find anything\n"
	}
	var obj *xnode
	if len(argv) == 1 {
		obj = sec
	} else {
		obj = sec.findChild(argv[1], argv[2], argv[3])
	}
	if obj == nil {
		return "can't find anything\n"
	}
	return obj.toXML()
}

// separateBlank is switch_separate_string with a blank delimiter for the unquoted case:
// fields split on runs of spaces, at most max of them, the last one keeping the rest.
func separateBlank(s string, max int) []string {
	var out []string
	s = strings.TrimLeft(s, " ")
	for s != "" {
		if len(out) == max-1 {
			out = append(out, strings.TrimRight(s, " "))
			break
		}
		f, rest, _ := strings.Cut(s, " ")
		out = append(out, f)
		s = strings.TrimLeft(rest, " ")
	}
	return out
}
