package prom

import (
	"math/big"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512MB", 512 << 20, true},
		{"18GB", 18 << 30, true},
		{"1KB", 1024, true},
		{"1KiB", 1024, true},
		{"2GiB", 2 << 30, true},
		{"1.5GB", 3 << 29, true},
		{"7B", 7, true},
		{"0B", 0, true},
		{"1.5B", 1, true},
		{"18", 0, false},
		{"18gb", 0, false},
		{"18 GB", 0, false},
		{" 18GB", 0, false},
		{"18G", 0, false},
		{"-1GB", 0, false},
		{"GB", 0, false},
		{"1e3MB", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseSize(tt.in)
		if ok != tt.ok || (ok && got.Int64() != tt.want) {
			t.Errorf("ParseSize(%q) = %v, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		bytes int64
		want  string
	}{
		{18 << 30, "18GB"},
		{7372 << 20, "7372MB"},
		{(7372 << 20) + 12345, "7372MB"},
		{921 << 10, "921KB"},
		{1 << 40, "1TB"},
		{1 << 20, "1MB"},
		{(150 << 20) + (3 << 10), "150MB"},
		{99, "99B"},
		{0, "0B"},
	}
	for _, tt := range tests {
		got := FormatSize(big.NewInt(tt.bytes))
		if got != tt.want {
			t.Errorf("FormatSize(%d) = %s, want %s", tt.bytes, got, tt.want)
		}
		if back, ok := ParseSize(got); !ok || back.Int64() > tt.bytes || float64(tt.bytes-back.Int64()) > 0.01*float64(tt.bytes) {
			t.Errorf("FormatSize(%d) = %s, which reads back as %v: off by 1%% or more", tt.bytes, got, back)
		}
	}
}
