package web

import (
	"fmt"
	"strings"
	"testing"
)

// TestBrowser_EveryRoleEveryViewAtBothWidths signs in as each role (platform, brand, company
// admin, company user) at desktop (1280 px) and phone (390 px) width and opens every tab that
// role is offered: each view loads its rows, the recordings are exactly the role's tenancy, the
// page never scrolls sideways, and the browser logs no error. A screenshot of every view goes to
// the test's artifact directory (go test -artifacts), never into the repository.
func TestBrowser_EveryRoleEveryViewAtBothWidths(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	a1 := w.co("A1")
	roles := []struct {
		name, token string
		recordings  int      // what the role's tenancy holds in the world
		tabs        []string // the tabs it must be offered
	}{
		{"platform", w.platform, 12, []string{"recordings", "calls", "holds", "person", "ddis", "companies", "users", "tokens", "audit", "webhooks"}},
		{"brand", w.brandTok["A"], 6, []string{"recordings", "calls", "holds", "person", "ddis", "companies", "users", "tokens", "audit", "webhooks"}},
		{"company_admin", a1.adminTok, 3, []string{"recordings", "calls", "holds", "person", "ddis", "companies", "users", "tokens", "audit", "webhooks"}},
		{"user", a1.userTok, 1, []string{"recordings", "calls"}},
	}
	defer func(parent *testing.T) { b.t = parent }(t) // the browser's clean-up reports to this test
	for _, width := range []int{1280, 390} {
		for _, role := range roles {
			t.Run(fmt.Sprintf("%s-%d", role.name, width), func(t *testing.T) {
				b.t = t
				b.call("POST", b.s("/window/rect"), map[string]any{"width": width, "height": 900}, nil)
				b.open(w.srv.URL() + "/")
				b.js(`sessionStorage.clear(); return null`, nil)
				b.open(w.srv.URL() + "/")
				b.typeInto("#token", role.token)
				b.click("#signin-button")
				b.waitFor("the recordings of "+role.name, func() bool {
					return b.jsNumber(`return document.querySelectorAll("#rec-table tr.rec").length`) == float64(role.recordings)
				})
				var offered []string
				b.js(`return [...document.querySelectorAll("nav .tab")].filter(e => !e.hidden).map(e => e.dataset.view)`, &offered)
				if strings.Join(offered, " ") != strings.Join(role.tabs, " ") {
					t.Errorf("%s is offered the tabs %v, want %v", role.name, offered, role.tabs)
				}
				for _, tab := range offered {
					b.click("nav .tab[data-view=" + tab + "]")
					b.waitFor("the "+tab+" view with its rows", func() bool {
						return b.jsNumber(`const s = document.querySelector("#`+tab+`");
							return !s.hidden && s.querySelectorAll("tbody tr").length > 0 ? 1 : 0`) == 1
					})
					b.screenshot(fmt.Sprintf("%s-%d-%s", role.name, width, tab))
					if over := b.jsNumber(`return document.documentElement.scrollWidth - document.documentElement.clientWidth`); over > 0 {
						t.Errorf("%s view %s at %d px scrolls sideways by %v px", role.name, tab, width, over)
					}
				}
				if errs := b.consoleErrors(); len(errs) > 0 {
					t.Errorf("browser errors for %s at %d px: %v", role.name, width, errs)
				}
			})
		}
	}
}
