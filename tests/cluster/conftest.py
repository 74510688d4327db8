"""The cluster tests (to come) and the Node adapter/emitter fixtures they check against."""

collect_ignore = ["node"]  # the npm project that captures the fixtures
