package fsconf

import (
	"bytes"
	"context"
	"embed"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"text/template"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/store"
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

// Output is one rendering: the files, in a fixed order, and the on-demand codes of the store
// that failed dialplan.ValidCode and were left out (the caller should report them).
type Output struct {
	Files   []File
	Skipped []string
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

// Renderer renders callrec's FreeSWITCH configuration from Options and the store's rules. Create
// it with New; it is safe for concurrent use, and SetRules or Watch may swap the rules while
// other goroutines render.
type Renderer struct {
	opts  Options
	tmpl  *template.Template
	rules atomic.Pointer[store.Rules]
	// codes lists the on-demand codes of a rules snapshot (nil-safe); tests replace it to feed
	// codes the store would refuse.
	codes func(*store.Rules) []string
}

// New validates opts (see Options.Validate; the error is that one, wrapping *OptionError values)
// and returns a Renderer over rules, which may be nil (no on-demand codes yet).
func New(opts Options, rules *store.Rules) (*Renderer, error) {
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
	r := &Renderer{opts: opts.withDefaults(), tmpl: tmpl, codes: storeCodes}
	r.rules.Store(rules)
	return r, nil
}

func storeCodes(rules *store.Rules) []string {
	if rules == nil {
		return nil
	}
	return rules.DistinctOnDemandCodes()
}

// Options returns the options with defaults filled.
func (r *Renderer) Options() Options { return r.opts }

// SetRules makes later renderings use rules (nil: no on-demand codes).
func (r *Renderer) SetRules(rules *store.Rules) { r.rules.Store(rules) }

// Watch keeps the Renderer's rules equal to db.Rules() until ctx ends, so that DialplanXML serves
// a new on-demand code as soon as it is stored. It returns ctx.Err(). onChange, when not nil, is
// called after each update (from Watch's goroutine), e.g. to re-write files.
func (r *Renderer) Watch(ctx context.Context, db *store.DB, onChange func()) error {
	ch, stop := db.Subscribe()
	defer stop()
	for {
		r.SetRules(db.Rules())
		if onChange != nil {
			onChange()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// data is what the templates see. Every string reaches XML through the template func x.
type data struct {
	Options
	Context                                             string // DialplanXML only
	IsUserContext                                       bool   // DialplanXML only: Context is one of UserContexts
	Socket                                              string
	Codes                                               []string
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

// snapshot validates the codes of the current rules and builds the template data.
func (r *Renderer) snapshot() (data, []string) {
	var codes, skipped []string
	seen := map[string]bool{}
	for _, c := range r.codes(r.rules.Load()) {
		switch {
		case !dialplan.ValidCode(c):
			skipped = append(skipped, c)
		case !seen[c]:
			seen[c] = true
			codes = append(codes, c)
		}
	}
	var userFiles []string
	for _, c := range r.opts.UserContexts {
		userFiles = append(userFiles, contextFile(c))
	}
	return data{
		Options:            r.opts,
		Socket:             r.opts.ESLListen + " async full",
		Codes:              codes,
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
	}, skipped
}

// Render renders every file from the current rules. Codes that fail dialplan.ValidCode are left
// out and listed in Output.Skipped. Errors: a template failure or a rendered XML file that does
// not parse (both are bugs of this package, never caused by input that passed validation).
func (r *Renderer) Render() (Output, error) {
	d, skipped := r.snapshot()
	out := Output{Skipped: skipped}
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

// DialplanXML answers a mod_xml_curl request: for section "dialplan" and one of the public, user
// or transfer contexts, a freeswitch/xml document holding callrec's extensions of that context;
// for anything else, the "not found" document, which makes FreeSWITCH fall back to its static
// configuration. Errors: as Render.
//
// mod_xml_curl's answer replaces the whole context of that name. The transfer context is
// entirely callrec's, so serving it is safe (and a new code needs no reloadxml). The public and
// user answers hold only callrec's entries: serve them only where the operator's own routes are
// merged in, or the fallback transfer finds no route.
func (r *Renderer) DialplanXML(section, context string) ([]byte, error) {
	d, _ := r.snapshot()
	d.Context = context
	d.IsUserContext = slices.Contains(d.UserContexts, context)
	if section != "dialplan" || (context != d.PublicContext && !d.IsUserContext && context != d.TransferContext) {
		return r.exec("notfound.xml.tmpl", d)
	}
	b, err := r.exec("curl.xml.tmpl", d)
	if err != nil {
		return nil, err
	}
	if err := wellFormed(b); err != nil {
		return nil, fmt.Errorf("fsconf: dialplan %s: %w", context, err)
	}
	return b, nil
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
