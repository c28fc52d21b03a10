"""The tester's link impairment: ``focalcall netem`` (tc netem, or network namespaces with
iptables and a userspace NFQUEUE impairer where the kernel has no netem)."""
