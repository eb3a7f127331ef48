module processkit.dev/processkit

go 1.24
