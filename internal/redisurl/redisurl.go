// Package redisurl reads REDIS_URL into the asynq connection options every
// process and reportctl use, so a plain and a Sentinel URL mean the same
// thing everywhere.
package redisurl

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
)

// Parse reads redis://[:password@]host:port/db, rediss://…, unix://… and
// redis-sentinel://[:password@]host1:port,host2:port/db?master=NAME.
//
// asynq.ParseRedisURI drops two parts of a Sentinel URL: the /db path (it
// always uses DB 0) and the password for the master (it only authenticates
// to the sentinels). Parse keeps both: the password is sent to the
// sentinels and to the master, so both must be configured with it (Redis
// refuses AUTH where no password is set).
func Parse(s string) (asynq.RedisConnOpt, error) {
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
