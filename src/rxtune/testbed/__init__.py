"""The private testbed: two network namespaces joined by veth, NAPI on, gone afterwards."""
