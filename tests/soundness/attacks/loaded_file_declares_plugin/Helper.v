Declare ML Module "./evil:evil.plugin".
