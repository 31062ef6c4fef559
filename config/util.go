package config

import (
	"log/slog"
	"reflect"
	"sort"
)

func reflectTypeOf(v any) reflect.Type { return reflect.TypeOf(v).Elem() }

func sortStrings(s []string) []string { sort.Strings(s); return s }

// LogValue implements slog.LogValuer so a Secret logs as a placeholder.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
