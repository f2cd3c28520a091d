"""The lab on disk and the hierarchy it is built from: sites, addresses, timing, folders,
inbox names, ID rules and lab time. Everything else in sitesrv builds on these."""
