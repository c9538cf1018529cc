package agent

import "testing"

func TestParseIdentityRefusesBadArguments(t *testing.T) {
	for _, body := range []map[string]interface{}{
		{"hostname": "bad name"},
		{"hostname": "-lead"},
		{"entropy": "not base64!"},
		{"entropy": ""},
		{"timeMs": -1.0},
	} {
		if _, err := parseIdentity(args(body)); err == nil {
			t.Errorf("%v: accepted", body)
		}
	}
	p, err := parseIdentity(args{"hostname": "fork-1", "entropy": "AAEC", "timeMs": 1.0})
	if err != nil {
		t.Fatal(err)
	}
	got := p.(identityParams)
	if got.hostname != "fork-1" || len(got.entropy) != 3 || !got.hasTime || got.timeMs != 1 {
		t.Errorf("parsed %+v", got)
	}
}
