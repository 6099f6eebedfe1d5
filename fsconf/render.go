package fsconf

import (
	"bytes"
	"embed"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/template"

	"github.com/callrec/callrec/dialplan"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// The files Render produces, relative to the output directory. They mirror FreeSWITCH's
// configuration directory, so the operator can copy the tree as it is (see INSTALL.md).
const (
	TransferFile    = "dialplan/callrec_transfer.xml"
	SofiaFile       = "callrec/sofia_profile_params.xml"
	EventSocketFile = "autoload_configs/event_socket.conf.xml"
	InstallFile     = "INSTALL.md"
)

// contextFile is dialplan/<context>/00_callrec.xml, the file of the public and user entries.
func contextFile(context string) string { return "dialplan/" + context + "/00_callrec.xml" }

// IsConfig reports whether FreeSWITCH loads the file at p (every rendered file but INSTALL.md,
// which is the operator's instructions and is never installed). Output.Check compares only
// those.
func IsConfig(p string) bool { return p != InstallFile }

// File is one rendered file. Path is slash-separated and relative to the output directory.
type File struct {
	Path string
	Data []byte
}

// Output is one rendering: the files, in a fixed order.
type Output struct {
	Files []File
}

// File returns the rendered file with path p, or nil.
func (o Output) File(p string) []byte {
	for _, f := range o.Files {
		if f.Path == p {
			return f.Data
		}
	}
	return nil
}

// InstalledDialplan is the dialplan document FreeSWITCH loads once the rendering is installed as
// INSTALL.md says: every context file's extensions first in their context (public, then each
// user context, in rendering order), followed by operator[context] (the operator's own
// extensions, XML), and the transfer context. Tests load it into a FreeSWITCH stand-in; it is
// never written to disk.
func (o Output) InstalledDialplan(operator map[string]string) []byte {
	inner := func(b []byte) string {
		_, s, _ := strings.Cut(string(b), "<include>")
		s, _, _ = strings.Cut(s, "</include>")
		return s
	}
	var doc strings.Builder
	doc.WriteString(`<document type="freeswitch/xml"><section name="dialplan">`)
	for _, f := range o.Files {
		ctx, ok := strings.CutPrefix(f.Path, "dialplan/")
		if ctx, ok = strings.CutSuffix(ctx, "/00_callrec.xml"); !ok {
			continue
		}
		doc.WriteString(`<context name="` + ctx + `">` + inner(f.Data) + operator[ctx] + `</context>`)
	}
	doc.WriteString(inner(o.File(TransferFile)) + `</section></document>`)
	return []byte(doc.String())
}

// Renderer renders callrec's FreeSWITCH configuration from Options alone: nothing it renders
// depends on the store (the transfer context sends every `*` and 1-3 digits to callrec, which
// decides from its store when the transfer arrives), so `callrec fsconf` never opens the store.
// Create it with New; it is safe for concurrent use.
type Renderer struct {
	opts Options
	tmpl *template.Template
}

// New validates opts (see Options.Validate; the error is that one, wrapping *OptionError values)
// and returns a Renderer.
func New(opts Options) (*Renderer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	tmpl, err := template.New("fsconf").Funcs(template.FuncMap{
		"x": xmlEscape,
		"v": func(name string) string { return xmlEscape("${" + name + "}") },
	}).Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("fsconf: templates: %w", err)
	}
	return &Renderer{opts: opts.withDefaults(), tmpl: tmpl}, nil
}

// Options returns the options with defaults filled.
func (r *Renderer) Options() Options { return r.opts }

// data is what the templates see. Every string reaches XML through the template func x.
type data struct {
	Options
	Socket                                              string   // the first instance's socket data
	Sockets                                             []string // every instance's, in order
	VarTaken                                            string   // set only with several instances
	VarSeen, VarDirection, VarOutgoingDDI, VarRecPrefix string
	VarUserContext                                      string
	DirInbound, DirUser                                 string
	DefaultUserContext                                  string // UserContexts[0]
	RecordTemplate                                      string
	ESIP, ESACL, ESListen                               string
	ESPort                                              int
	PublicFile, TransferFile, SofiaFile                 string
	UserFiles                                           []string // one per user context, same content
	EventSocketFile                                     string
}

// templateData builds what the templates see.
func (r *Renderer) templateData() data {
	var userFiles []string
	for _, c := range r.opts.UserContexts {
		userFiles = append(userFiles, contextFile(c))
	}
	var sockets []string
	for _, a := range r.opts.Instances {
		sockets = append(sockets, a+" async full")
	}
	taken := ""
	if len(sockets) > 1 {
		taken = dialplan.VarTaken
	}
	return data{
		Options:            r.opts,
		Socket:             sockets[0],
		Sockets:            sockets,
		VarTaken:           taken,
		VarSeen:            VarSeen,
		VarDirection:       dialplan.VarDirection,
		VarOutgoingDDI:     dialplan.VarOutgoingDDI,
		VarRecPrefix:       dialplan.VarRecPrefix,
		VarUserContext:     dialplan.VarUserContext,
		DirInbound:         string(dialplan.DirectionInbound),
		DirUser:            string(dialplan.DirectionUser),
		DefaultUserContext: r.opts.UserContexts[0],
		RecordTemplate:     RecordTemplate,
		ESIP:               EventSocketListenIP,
		ESACL:              EventSocketACL,
		ESPort:             EventSocketListenPort,
		ESListen:           fmt.Sprintf("%s:%d", EventSocketListenIP, EventSocketListenPort),
		PublicFile:         contextFile(r.opts.PublicContext),
		UserFiles:          userFiles,
		TransferFile:       TransferFile,
		SofiaFile:          SofiaFile,
		EventSocketFile:    EventSocketFile,
	}
}

// Render renders every file. Errors: a template failure or a rendered XML file that does not
// parse (both are bugs of this package, never caused by options that passed validation).
func (r *Renderer) Render() (Output, error) {
	d := r.templateData()
	var out Output
	files := []struct{ path, tmpl string }{{d.PublicFile, "public.xml.tmpl"}}
	for _, u := range d.UserFiles {
		files = append(files, struct{ path, tmpl string }{u, "user.xml.tmpl"})
	}
	files = append(files, []struct{ path, tmpl string }{
		{TransferFile, "transfer.xml.tmpl"},
		{SofiaFile, "sofia.xml.tmpl"},
		{EventSocketFile, "event_socket.xml.tmpl"},
		{InstallFile, "INSTALL.md.tmpl"},
	}...)
	for _, f := range files {
		b, err := r.exec(f.tmpl, d)
		if err != nil {
			return Output{}, err
		}
		if strings.HasSuffix(f.path, ".xml") {
			if err := wellFormed(b); err != nil {
				return Output{}, fmt.Errorf("fsconf: %s: %w", f.path, err)
			}
		}
		out.Files = append(out.Files, File{Path: f.path, Data: b})
	}
	return out, nil
}

func (r *Renderer) exec(name string, d data) ([]byte, error) {
	var buf bytes.Buffer
	if err := r.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		return nil, fmt.Errorf("fsconf: template %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// xmlEscape escapes s for XML text and attribute values (both quote kinds, CR/LF/TAB as
// character references).
func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

// wellFormed reports whether b parses as XML with exactly one root element.
func wellFormed(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) && depth == 0 {
				break
			}
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 {
		return fmt.Errorf("not well-formed XML: %d root elements", roots)
	}
	return nil
}
