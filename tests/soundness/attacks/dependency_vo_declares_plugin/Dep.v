Declare ML Module "@CASE@/evil:evil.plugin".
Definition d := 0.
