"""The worker: leases commands from noetl.queue, runs their tools, reports back."""
