package app

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sip-phone-api/sipphone"
)

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// TestOpenAPIDocument: /openapi.json is a valid OpenAPI 3.1 document that
// lists every endpoint, and /docs serves the viewer.
func TestOpenAPIDocument(t *testing.T) {
	s := startServer(t, "", "")
	res, spec := get(t, s.url("/openapi.json"))
	if res.StatusCode != 200 {
		t.Fatalf("/openapi.json = %d", res.StatusCode)
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("OpenAPI version %s, want 3.1", v)
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(doc); !ok {
		for _, e := range errs {
			t.Errorf("invalid: %s: %s", e.Message, e.Reason)
		}
		t.FailNow()
	}
	for _, op := range []string{
		`"/status"`, `"/lines"`, `"/lines/{id}"`, `"/ring"`, `"/ring/stop"`, `"/lines/{id}/ring"`, `"/hangup"`, `"/lines/{id}/hangup"`,
		`"/audio/start"`, `"/audio/stop"`, `"/lines/{id}/play"`, `"/lines/{id}/loopback"`, `"/diagnostics"`, `"/diagnostics/sip-trace"`,
	} {
		if !strings.Contains(string(spec), op) {
			t.Errorf("the OpenAPI document lacks %s", op)
		}
	}
	res, page := get(t, s.url("/docs"))
	if res.StatusCode != 200 || !strings.Contains(string(page), "docs/assets/swagger-ui/swagger-ui-bundle.js") {
		t.Fatalf("/docs = %d\n%s", res.StatusCode, page)
	}
	if res, js := get(t, s.url("/docs/assets/swagger-ui/swagger-ui-bundle.js")); res.StatusCode != 200 || len(js) < 1000 {
		t.Fatalf("viewer script = %d, %d bytes", res.StatusCode, len(js))
	}
}

// TestMetricsMoveWithCalls scrapes /metrics (parsed with the Prometheus
// text-format parser) before and after a call.
func TestMetricsMoveWithCalls(t *testing.T) {
	s := startServer(t, "", "")
	ev := s.events("?types=off_hook,on_hook")
	scrape := func() map[string]*dtoFamily {
		res, b := get(t, s.url("/metrics"))
		if res.StatusCode != 200 {
			t.Fatalf("/metrics = %d", res.StatusCode)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("metrics do not parse: %v", err)
		}
		out := map[string]*dtoFamily{}
		for name, f := range fams {
			fam := &dtoFamily{}
			for _, m := range f.Metric {
				v := 0.0
				switch {
				case m.Counter != nil:
					v = m.Counter.GetValue()
				case m.Gauge != nil:
					v = m.Gauge.GetValue()
				case m.Histogram != nil:
					v = float64(m.Histogram.GetSampleCount())
				}
				fam.total += v
			}
			out[name] = fam
		}
		return out
	}
	before := scrape()
	ph := startSim(t, s.sipAddr())
	ctx := t.Context()
	if err := ph.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventOffHook)
	if err := ph.OnHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventOnHook)
	var after map[string]*dtoFamily
	s.waitFor("metrics to count the call", func() bool {
		after = scrape()
		c := after["sipphone_calls_total"]
		return c != nil && c.total >= 1
	})
	if b := before["sipphone_calls_total"]; b != nil && b.total != 0 {
		t.Fatalf("calls before = %v", b.total)
	}
	if r := after["sipphone_registrations_total"]; r == nil || r.total < 1 {
		t.Fatalf("registrations not counted: %+v", r)
	}
}

type dtoFamily struct{ total float64 }
