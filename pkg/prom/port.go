package prom

// DefaultListenPort is the port Prometheus serves on unless --web.listen-address says
// otherwise; the chart keeps it.
const DefaultListenPort = 9090
