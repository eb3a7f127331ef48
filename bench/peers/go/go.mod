// The peer benchmarks' Go driver: os/exec (impl go_exec). The processkit Go
// module (impl processkit_go) is not obtainable here: see ../README.md.
module processkit-peers-go

go 1.22
