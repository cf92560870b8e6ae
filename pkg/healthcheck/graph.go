package healthcheck

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// node is one check of a run, with its dependencies resolved.
type node struct {
	category string
	check    *Check
	// prev is the check before this one in its category: a node only starts
	// after it, which matters when looking for cycles.
	prev  *node
	needs []*node
	done  chan struct{}
	// result is written once, before done is closed.
	result Result
}

func (n *node) name() string {
	if n.check.ID != "" {
		return fmt.Sprintf("check %q", n.check.ID)
	}
	return fmt.Sprintf("check %q (category %q)", n.check.Description, n.category)
}

// Validate reports every problem that would keep Run from running the
// categories: missing names, descriptions or Run funcs, duplicate category
// names or check IDs, unknown IDs in Needs, and dependency cycles.
func Validate(categories []Category) error {
	_, err := buildGraph(categories)
	return err
}

func buildGraph(categories []Category) ([][]*node, error) {
	var errs []error
	nodes := make([][]*node, len(categories))
	byID := map[string]*node{}
	catNames := map[string]bool{}
	for i := range categories {
		cat := &categories[i]
		switch {
		case cat.Name == "":
			errs = append(errs, fmt.Errorf("category #%d has no name", i+1))
		case catNames[cat.Name]:
			errs = append(errs, fmt.Errorf("category %q is defined twice", cat.Name))
		}
		catNames[cat.Name] = true
		var prev *node
		for j := range cat.Checks {
			n := &node{category: cat.Name, check: &cat.Checks[j], prev: prev, done: make(chan struct{})}
			nodes[i] = append(nodes[i], n)
			prev = n
			c := n.check
			if c.Description == "" {
				errs = append(errs, fmt.Errorf("check #%d of category %q has no description", j+1, cat.Name))
			}
			if c.Run == nil {
				errs = append(errs, fmt.Errorf("%s has no Run func", n.name()))
			}
			if c.Timeout < 0 {
				errs = append(errs, fmt.Errorf("%s has a negative timeout %s", n.name(), c.Timeout))
			}
			if c.ID == "" {
				continue
			}
			if other, dup := byID[c.ID]; dup {
				errs = append(errs, fmt.Errorf("check ID %q is used twice: by %q (category %q) and by %q (category %q)",
					c.ID, other.check.Description, other.category, c.Description, cat.Name))
				continue
			}
			byID[c.ID] = n
		}
	}
	for _, cat := range nodes {
		for _, n := range cat {
			for _, id := range n.check.Needs {
				dep, ok := byID[id]
				if !ok {
					errs = append(errs, fmt.Errorf("%s needs %q, but no check has that ID", n.name(), id))
					continue
				}
				n.needs = append(n.needs, dep)
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid checks: %w", errors.Join(errs...))
	}
	if err := findCycle(nodes); err != nil {
		return nil, fmt.Errorf("invalid checks: %w", err)
	}
	return nodes, nil
}

// findCycle looks for a dependency cycle, counting both Needs and the
// in-order execution of a category: a cycle would deadlock the run.
func findCycle(nodes [][]*node) error {
	const (
		unvisited = iota
		visiting
		visited
	)
	state := map[*node]int{}
	var stack []*node
	var visit func(n *node) error
	visit = func(n *node) error {
		state[n] = visiting
		stack = append(stack, n)
		deps := n.needs
		if n.prev != nil {
			deps = append([]*node{n.prev}, deps...)
		}
		for _, d := range deps {
			switch state[d] {
			case visiting:
				return describeCycle(stack, d)
			case unvisited:
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = visited
		return nil
	}
	for _, cat := range nodes {
		for _, n := range cat {
			if state[n] == unvisited {
				if err := visit(n); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// describeCycle spells out the cycle that closes at back, the tail of stack
// starting at back followed by back again.
func describeCycle(stack []*node, back *node) error {
	start := len(stack) - 1
	for stack[start] != back {
		start--
	}
	loop := append(append([]*node{}, stack[start:]...), back)
	var steps []string
	inOrder := false
	for k := 0; k+1 < len(loop); k++ {
		from, to := loop[k], loop[k+1]
		if from.prev == to && !slices.Contains(from.needs, to) {
			inOrder = true
			steps = append(steps, fmt.Sprintf("%s runs after %s", from.name(), to.name()))
			continue
		}
		steps = append(steps, fmt.Sprintf("%s needs %s", from.name(), to.name()))
	}
	msg := "dependency cycle: " + strings.Join(steps, "; ")
	if inOrder {
		msg += " (the checks of a category run in order, so a check cannot need a later check of its own category)"
	}
	return errors.New(msg)
}
