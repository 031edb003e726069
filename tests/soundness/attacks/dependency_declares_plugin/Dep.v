Declare ML Module "./evil:evil.plugin".
Definition d := 0.
