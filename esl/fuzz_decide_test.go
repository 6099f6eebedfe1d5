package esl

import (
	"bufio"
	"bytes"
	"context"
	"net/textproto"
	"reflect"
	"testing"

	"github.com/percipia/eslgo"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/store"
)

// fuzzRules stores tenants for FuzzDecide: a brand with a sip_domain and one without, DDIs that
// record (one with an announcement), users and on-demand codes, so lookups succeed on the seeds.
func fuzzRules(f *testing.F) *store.DB {
	ctx := context.Background()
	db, err := store.Open(ctx, f.TempDir()+"/callrec.db", store.Options{NoSync: true, DefaultCountry: "ES"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	for i, domain := range []string{"", "b.example.com"} {
		b := &store.Brand{Name: "B", SIPDomain: domain}
		must2(f, db.CreateBrand(ctx, b))
		c := &store.Company{BrandID: b.ID, Name: "C", OnDemand: store.OnDemandKeyDTMF, OnDemandCode: "7" + string(rune('0'+i)), Stereo: i == 1}
		must2(f, db.CreateCompany(ctx, c))
		ann := ""
		if i == 0 {
			ann = "ivr/recording_notice.wav"
		}
		must2(f, db.CreateDDI(ctx, &store.DDI{CompanyID: c.ID, Number: "+3491123456" + string(rune('7'+i)), RecordCalls: store.RecordAll, Announcement: ann}))
		for _, ext := range []string{"1001", "1002"} {
			sip := ext
			if i == 0 {
				sip = "a" + ext
			}
			must2(f, db.CreateUser(ctx, &store.User{CompanyID: c.ID, Name: "U", Extension: ext, SIPUser: sip}))
		}
	}
	return db
}

func must2(f *testing.F, err error) {
	f.Helper()
	if err != nil {
		f.Fatal(err)
	}
}

// fuzzSeeds are connect replies (header blocks, values URL-encoded as FreeSWITCH sends them).
var fuzzSeeds = []string{
	"Unique-ID: 6142aa05-4486-4dc4-8b8b-49c5f9b7d4e6\nCaller-Context: public\nCaller-Destination-Number: 911234567\nCaller-Caller-ID-Number: %2B34600111222\nAnswer-State: ringing\nvariable_sip_from_user: %2B34600111222\nvariable_sip_from_host: 192.0.2.9\n",
	"Unique-ID: u1\nCaller-Context: default\nCaller-Destination-Number: 600999888\nCaller-Caller-ID-Number: 1001\nvariable_callrec_direction: user\nvariable_sip_from_user: 1001\nvariable_sip_from_host: b.example.com\nvariable_sip_auth_username: 1001\nvariable_user_name: 1001\nvariable_domain_name: b.example.com\nvariable_outbound_caller_id_number: %2B34911234568\n",
	"Unique-ID: u2\nCaller-Destination-Number: 1002\nCaller-Caller-ID-Number: a1001\nvariable_callrec_direction: user\nvariable_sip_from_user: a1001\nvariable_sip_from_host: 127.0.0.1\nvariable_effective_caller_id_number: %2B34911234567\n",
	"Unique-ID: u3\nCaller-Destination-Number: %2A70\nvariable_callrec_direction: outbound\nvariable_sip_auth_username: x\nvariable_user_name: a1001%0D%0Aapi%20hupall\nvariable_domain_name: %24%7Bsystem(id)%7D\nvariable_callrec_outgoing_ddi: %2B34%20911\nvariable_blind_transfer_uuid: u1\nvariable_callrec_user_context: ctx%20x\n",
	"Unique-ID: u4\nCaller-Destination-Number: 911234567%0A\nCaller-Caller-ID-Number: %00%FF\nvariable_callrec_direction: INBOUND\n",
}

// FuzzDecide: arbitrary connect headers → callInfo → facts (with the store's rules) → Decide.
// It must never panic, and every string of the plan must be safe in a FreeSWITCH command
// (printable ASCII without spaces or FreeSWITCH's expansion characters).
func FuzzDecide(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "", "", "", "", "", "", "", "")
	}
	f.Add([]byte("Unique-ID: u5\n"), "600999888", "1001", "user", "1001", "b.example.com", "1001", "b.example.com", "+34911234568")
	f.Add([]byte("Unique-ID: u6\n"), "911234567", "600111222", "", "x", "y", "", "", "")
	f.Add([]byte("Unique-ID: u7\n"), "1002", "a1001", "user", "a1001", "127.0.0.1", "a1001", "127.0.0.1", "911234567")
	db := fuzzRules(f)
	srv := &Server{DB: db, Logger: zerolog.Nop(), DefaultCountry: "ES", TransferContext: "callrec_transfer", UserContext: "default"}
	f.Fuzz(func(t *testing.T, data []byte, dest, caller, direction, fromUser, fromHost, authUser, authDomain, outDDI string) {
		r := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(append([]byte(nil), data...), "\n\n"...))))
		hdr, err := r.ReadMIMEHeader()
		if err != nil && len(hdr) == 0 {
			return // eslgo reads the same way: a block it cannot read is no connect reply
		}
		if hdr == nil {
			hdr = textproto.MIMEHeader{}
		}
		// The named values, when given, replace the block's (set raw: GetHeader URL-decodes them
		// as it does FreeSWITCH's).
		for name, v := range map[string]string{"Caller-Destination-Number": dest, "Caller-Caller-ID-Number": caller,
			"variable_" + dialplan.VarDirection: direction, "variable_sip_from_user": fromUser, "variable_sip_from_host": fromHost,
			"variable_sip_auth_username": authUser, "variable_user_name": authUser, "variable_domain_name": authDomain,
			"variable_outbound_caller_id_number": outDDI} {
			if v != "" {
				hdr.Set(name, v)
			}
		}
		s := newSession(srv, nil, nil, &eslgo.RawResponse{Headers: hdr})
		s.legs[s.info.UUID] = &legInfo{uuid: s.info.UUID}
		s.decide()
		var strs []string
		allPlanStrings(reflect.ValueOf(s.plan), &strs)
		for _, v := range strs {
			for i := 0; i < len(v); i++ {
				if c := v[i]; c <= ' ' || c >= 0x7f || c == '$' || c == '{' || c == '}' {
					t.Fatalf("plan value %q holds %q; plan %+v", v, c, s.plan)
				}
			}
		}
	})
}

// allPlanStrings collects every string reachable in v.
func allPlanStrings(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, v.String())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			allPlanStrings(v.Field(i), out)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			allPlanStrings(v.Index(i), out)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			allPlanStrings(v.Elem(), out)
		}
	}
}
