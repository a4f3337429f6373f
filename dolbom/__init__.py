"""dolbom (돌봄): the integrated care desk (통합창구) of a district care consortium."""
