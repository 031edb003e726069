Definition d := 1.
