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
		{"redis-cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002",
			asynq.RedisClusterClientOpt{Addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}}},
		{"redis-cluster://:pw@h1:7000,h2:7001/0", asynq.RedisClusterClientOpt{Addrs: []string{"h1:7000", "h2:7001"}, Password: "pw"}},
		{"redis-cluster://app:pw@h1:7000", asynq.RedisClusterClientOpt{Addrs: []string{"h1:7000"}, Username: "app", Password: "pw"}},
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
		"redis-cluster://h1:7000/1",        // a cluster has only db 0
		"redis-cluster://h1:7000,h2",       // a node without a port
		"redis-cluster://h1:7000,:7001",    // a node without a host
		"redis-cluster://h1:7000?master=m", // no options
		"redis-cluster://h1:70000",         // port out of range
	} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %#v, want an error", bad, got)
		}
	}
}
