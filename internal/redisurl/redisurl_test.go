package redisurl

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want asynq.RedisConnOpt
	}{
		{"redis://127.0.0.1:6379/3", asynq.RedisClientOpt{Addr: "127.0.0.1:6379", DB: 3}},
		{"redis://:pw@127.0.0.1:6379/0", asynq.RedisClientOpt{Addr: "127.0.0.1:6379", Password: "pw"}},
		{"redis-sentinel://127.0.0.1:26379,127.0.0.1:26380/0?master=reportd",
			asynq.RedisFailoverClientOpt{MasterName: "reportd", SentinelAddrs: []string{"127.0.0.1:26379", "127.0.0.1:26380"}}},
		{"redis-sentinel://:pw@h1:26379,h2:26379,h3:26379/5?master=m",
			asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"h1:26379", "h2:26379", "h3:26379"},
				SentinelPassword: "pw", Password: "pw", DB: 5}},
		{"redis-sentinel://h1:26379?master=m", asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"h1:26379"}}},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, bad := range []string{
		"redis-sentinel://h1:26379/0",          // no master name
		"redis-sentinel://h1:26379/x?master=m", // db not a number
		"http://h1:6379/0",
	} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %#v, want an error", bad, got)
		}
	}
}
