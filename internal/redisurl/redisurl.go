// Package redisurl reads REDIS_URL into the asynq connection options every
// process and reportctl use, so a plain, a Sentinel and a Cluster URL mean
// the same thing everywhere.
package redisurl

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
)

// Parse reads redis://[:password@]host:port/db, rediss://…, unix://…,
// redis-sentinel://[:password@]host1:port,host2:port/db?master=NAME and
// redis-cluster://[[user]:password@]host1:port,host2:port,….
//
// asynq.ParseRedisURI drops two parts of a Sentinel URL: the /db path (it
// always uses DB 0) and the password for the master (it only authenticates
// to the sentinels). Parse keeps both: the password is sent to the
// sentinels and to the master, so both must be configured with it (Redis
// refuses AUTH where no password is set).
//
// asynq has a cluster client but no URL for it: the hosts of a
// redis-cluster URL are seed nodes (any few of the cluster's; the client
// learns the rest), and the password is every node's. A cluster has only
// database 0, so a path other than /0 is refused.
func Parse(s string) (asynq.RedisConnOpt, error) {
	if rest, ok := strings.CutPrefix(s, "redis-cluster://"); ok {
		return parseCluster(rest)
	}
	opt, err := asynq.ParseRedisURI(s)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	fo, ok := opt.(asynq.RedisFailoverClientOpt)
	if !ok {
		return opt, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	if fo.MasterName == "" {
		return nil, fmt.Errorf("parse redis url: a redis-sentinel URL needs ?master=NAME")
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if fo.DB, err = strconv.Atoi(db); err != nil || fo.DB < 0 {
			return nil, fmt.Errorf("parse redis url: database %q is not a number", db)
		}
	}
	fo.Password = fo.SentinelPassword
	return fo, nil
}

// parseCluster reads what follows redis-cluster://.
func parseCluster(rest string) (asynq.RedisConnOpt, error) {
	u, err := url.Parse("redis-cluster://" + rest)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		return nil, fmt.Errorf("parse redis url: a Redis Cluster has only database 0, not %q", db)
	}
	if u.RawQuery != "" {
		return nil, fmt.Errorf("parse redis url: a redis-cluster URL takes no options (%q)", u.RawQuery)
	}
	var opt asynq.RedisClusterClientOpt
	for addr := range strings.SplitSeq(u.Host, ",") {
		host, port, ok := strings.Cut(addr, ":")
		if _, err := strconv.ParseUint(port, 10, 16); !ok || host == "" || err != nil {
			return nil, fmt.Errorf("parse redis url: cluster node %q is not host:port", addr)
		}
		opt.Addrs = append(opt.Addrs, addr)
	}
	if u.User != nil {
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	return opt, nil
}
