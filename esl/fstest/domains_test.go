package fstest

import (
	"testing"
)

// tenantDialplan is a multi-tenant switch (FusionPBX style): each domain's users place their calls
// in the domain's own context, and both contexts dial users of their own domain.
const tenantDialplan = `<include>
<context name="a.example.com">
  <extension name="back"><condition field="${went_back}" expression="^$"/><condition field="destination_number" expression="^(back)$">
    <action application="set" data="went_back=true"/>
    <action application="transfer" data="$1 XML ${context}"/>
  </condition></extension>
  <extension name="users"><condition field="destination_number" expression="^(10\d\d)$">
    <action application="bridge" data="user/$1@${domain_name}"/>
  </condition></extension>
</context>
<context name="b.example.com">
  <extension name="back"><condition field="${went_back}" expression="^$"/><condition field="destination_number" expression="^(back)$">
    <action application="set" data="went_back=true"/>
    <action application="transfer" data="$1 XML ${context}"/>
  </condition></extension>
  <extension name="users"><condition field="destination_number" expression="^(10\d\d)$">
    <action application="bridge" data="user/$1@${domain_name}"/>
  </condition></extension>
  <extension name="done"><condition field="destination_number" expression="^back$">
    <action application="answer"/>
  </condition></extension>
</context>
<context name="public">
  <extension name="to_b"><condition field="destination_number" expression="^(\d+)$">
    <action application="bridge" data="user/1001@b.example.com"/>
  </condition></extension>
</context>
<context name="xfer">
  <extension name="loop"><condition field="destination_number" expression="^(.+)$">
    <action application="transfer" data="$1 XML "/>
  </condition></extension>
</context>
</include>`

func tenantPhones() map[string]Phone {
	return map[string]Phone{
		"1001@a.example.com": {ToneHz: 700, Domain: "a.example.com", Context: "a.example.com"},
		"1002@a.example.com": {ToneHz: 710, Domain: "a.example.com", Context: "a.example.com"},
		"1001@b.example.com": {ToneHz: 800, Domain: "b.example.com", Context: "b.example.com"},
		"1002@b.example.com": {ToneHz: 810, Domain: "b.example.com", Context: "b.example.com"},
		"1003":               {ToneHz: 900}, // a user of the stock single domain
	}
}

// TestDomains_UserCallsStartInTheirDomainsContext: a phone of a domain places its calls in its
// user_context, From <ext>@<domain>, with the directory's variables (sofia_reg.c
// sofia_reg_parse_auth, sofia.c sofia_handle_sip_i_invite); a phone of no domain in "default".
func TestDomains_UserCallsStartInTheirDomainsContext(t *testing.T) {
	fs := Start(t, Options{Dialplan: MustParseDialplan([]byte(tenantDialplan)), Phones: tenantPhones()})
	tests := []struct {
		user, domain                        string
		wantContext, wantHost, wantUserCtxt string
	}{
		{"1001", "a.example.com", "a.example.com", "a.example.com", "a.example.com"},
		{"1001", "b.example.com", "b.example.com", "b.example.com", "b.example.com"},
		{"1003", "", "default", "127.0.0.1", "default"},
	}
	for _, tt := range tests {
		call, err := fs.Outbound(ctx(t), CallSpec{FromUser: tt.user, Domain: tt.domain, To: "9999"})
		if err != nil {
			t.Fatal(err)
		}
		a := call.A
		if s := a.State(); s.Context != tt.wantContext {
			t.Errorf("%s@%s: call starts in %q, want %q", tt.user, tt.domain, s.Context, tt.wantContext)
		}
		if got := a.Var("sip_from_host"); got != tt.wantHost {
			t.Errorf("%s@%s: sip_from_host %q, want %q", tt.user, tt.domain, got, tt.wantHost)
		}
		if got := a.Var("user_context"); got != tt.wantUserCtxt {
			t.Errorf("%s@%s: user_context %q, want %q", tt.user, tt.domain, got, tt.wantUserCtxt)
		}
	}
}

// TestDomains_BridgeUserAtDomainReachesThatDomainsUser: user/1002@b.example.com reaches b's 1002,
// not a's; the new leg carries dialed_user, dialed_domain and the directory's user_context while
// its caller profile keeps the originator's context (mod_dptools.c user_outgoing_channel ~4410,
// ~4441, ~4495, ~4510).
func TestDomains_BridgeUserAtDomainReachesThatDomainsUser(t *testing.T) {
	fs := Start(t, Options{Dialplan: MustParseDialplan([]byte(tenantDialplan)), Phones: tenantPhones()})
	call, err := fs.Outbound(ctx(t), CallSpec{FromUser: "1001", Domain: "b.example.com", To: "1002"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := call.WaitLeg(ctx(t), "1002")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitAnswer(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if b.phone.ToneHz != 810 {
		t.Errorf("reached the phone with tone %v, want b.example.com's 1002 (810)", b.phone.ToneHz)
	}
	for name, want := range map[string]string{"dialed_user": "1002", "dialed_domain": "b.example.com", "user_context": "b.example.com", "domain_name": "b.example.com"} {
		if got := b.Var(name); got != want {
			t.Errorf("bridged leg %s = %q, want %q", name, got, want)
		}
	}
	if got := call.A.Var("dialed_user"); got != "1002" {
		t.Errorf("originator dialed_user %q, want 1002 (set on the originating channel too)", got)
	}
	// From public, the user leg's caller profile is still public; its directory context is b's.
	in := mustInbound(t, fs, CallSpec{From: "+34600111222", To: "34911234567"})
	u, err := in.WaitLeg(ctx(t), "1001")
	if err != nil {
		t.Fatal(err)
	}
	if s, uc := u.State(), u.Var("user_context"); s.Context != "public" || uc != "b.example.com" {
		t.Errorf("user leg from public: Caller-Context %q user_context %q, want public and b.example.com", s.Context, uc)
	}
}

// TestDomains_ContextExpandsFromTheCallerProfile: with no channel variable of that name,
// ${context} is the caller profile's context (switch_channel.c switch_channel_get_variable_dup
// ~974–1010 falls back to switch_caller.c switch_caller_get_field_by_name "context" ~243), so
// `transfer $1 XML ${context}` stays in the context the call is in; a transfer with no context
// goes to force_transfer_context, and one that loops runs out of max_forwards (switch_ivr.c
// switch_ivr_session_transfer ~2176–2210).
func TestDomains_ContextExpandsFromTheCallerProfile(t *testing.T) {
	fs := Start(t, Options{Dialplan: MustParseDialplan([]byte(tenantDialplan)), Phones: tenantPhones()})
	call, err := fs.Outbound(ctx(t), CallSpec{FromUser: "1001", Domain: "b.example.com", To: "back"})
	if err != nil {
		t.Fatal(err)
	}
	a := call.A
	if _, err := a.WaitState(ctx(t), func(s LegState) bool { return s.Answered }); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range fs.AppLog(a.UUID()) {
		if r.App == "transfer" {
			found = r.Data == "back XML b.example.com"
		}
	}
	if !found {
		t.Errorf("transfer data not expanded to the call's context: %v", fs.AppLog(a.UUID()))
	}
	if s := a.State(); s.Context != "b.example.com" {
		t.Errorf("after the transfer the call is in %q, want b.example.com", s.Context)
	}

	loop, err := fs.Outbound(ctx(t), CallSpec{FromUser: "1003", To: "x", Context: "xfer", Vars: map[string]string{"force_transfer_context": "xfer"}})
	if err != nil {
		t.Fatal(err)
	}
	cause, err := loop.A.WaitHangup(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if cause != "EXCHANGE_ROUTING_ERROR" {
		t.Errorf("a transfer with no context loops in force_transfer_context until max_forwards runs out: cause %q, want EXCHANGE_ROUTING_ERROR", cause)
	}
	if n := len(fs.AppLog(loop.A.UUID())); n != 70 {
		t.Errorf("%d transfer apps ran, want 70 (69 transfers use up max_forwards 70, the 70th hangs up)", n)
	}
}

// TestOutbound_AuthenticatedIdentityBesideTheFromHeader: a registered phone's leg carries the
// directory user and domain it authenticated as (user_name, domain_name, sip_auth_username,
// sip_auth_realm: sofia_reg.c sofia_reg_parse_auth ~3444–3449), whatever its From header says;
// a phone without a domain authenticated in the default domain, the host's IP.
func TestOutbound_AuthenticatedIdentityBesideTheFromHeader(t *testing.T) {
	tests := []struct {
		name   string
		spec   CallSpec
		domain string
	}{
		{"tenant domain, From the DDI", CallSpec{FromUser: "1001", Domain: "b.example.com", From: "+34911234567", To: "1002"}, "b.example.com"},
		{"default domain, From another user", CallSpec{FromUser: "1001", From: "1002", To: "1002"}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			phones := tenantPhones()
			phones["1001"] = Phone{ToneHz: 500}
			phones["1002"] = Phone{ToneHz: 510}
			fs := Start(t, Options{Dialplan: MustParseDialplan([]byte(tenantDialplan)), Phones: phones})
			call, err := fs.Outbound(ctx(t), tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]string{"sip_from_user": tt.spec.From, "user_name": "1001", "sip_auth_username": "1001",
				"domain_name": tt.domain, "sip_auth_realm": tt.domain} {
				if got := call.A.Var(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}
