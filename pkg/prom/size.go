package prom

import (
	"math/big"
	"regexp"
	"strings"
)

// sizePattern is what --storage.tsdb.retention.size accepts: a number and one unit.
var sizePattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(B|KB|MB|GB|TB|PB|EB|KiB|MiB|GiB|TiB|PiB|EiB)$`)

type sizeUnit struct {
	name  string
	shift uint
}

// sizeUnits are Prometheus' size units, largest first: powers of 1024, so KB is 1024 bytes.
func sizeUnits() []sizeUnit {
	return []sizeUnit{{"EB", 60}, {"PB", 50}, {"TB", 40}, {"GB", 30}, {"MB", 20}, {"KB", 10}, {"B", 0}}
}

// ParseSize reads a size the way Prometheus' --storage.tsdb.retention.size takes it: a
// number and one of the units B, KB, MB, GB, TB, PB, EB (powers of 1024; KiB … EiB mean the
// same). ok is false for anything else; a fraction of a byte is dropped.
func ParseSize(s string) (bytes *big.Int, ok bool) {
	m := sizePattern.FindStringSubmatch(s)
	if m == nil {
		return nil, false
	}
	n, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return nil, false
	}
	unit := strings.Replace(m[2], "iB", "B", 1)
	for _, u := range sizeUnits() {
		if u.name == unit {
			n.Mul(n, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), u.shift)))
		}
	}
	return new(big.Int).Quo(n.Num(), n.Denom()), true
}

// FormatSize renders bytes in Prometheus' units, rounded down to a unit that keeps the
// error under 1%, then in the largest unit that is still exact (18Gi → 18GB, 7372Mi → 7372MB).
func FormatSize(bytes *big.Int) string {
	b := new(big.Int).Set(bytes)
	var grain uint
	for _, u := range sizeUnits() {
		if new(big.Int).Rsh(b, u.shift).Cmp(big.NewInt(100)) >= 0 {
			grain = u.shift
			break
		}
	}
	b.Rsh(b, grain)
	b.Lsh(b, grain)
	for _, u := range sizeUnits() {
		unit := new(big.Int).Lsh(big.NewInt(1), u.shift)
		if new(big.Int).Rem(b, unit).Sign() == 0 && b.Sign() > 0 {
			return new(big.Int).Quo(b, unit).String() + u.name
		}
	}
	return b.String() + "B"
}
