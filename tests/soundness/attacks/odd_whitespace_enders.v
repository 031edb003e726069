(* attack: tabs and CR-only line ends around proof enders | false: a b c *)Theorem a : 1 = 2.Proof	.	Admitted.Theorem b : 1 = 2.
  Proof .	
Admitted	.
Theorem c : 1 = 2.
  Proof.	
	Admitted	.
