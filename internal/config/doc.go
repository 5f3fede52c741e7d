// Package config reads reportd's settings from the environment once, checks
// them, and gives every process the same typed view.
package config
