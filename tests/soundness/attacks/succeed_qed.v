(* attack: `Succeed` runs a command and forgets it | false: bad *)
Axiom ax : 1 = 2.
Theorem bad : 1 = 2.
Proof.
Succeed exact ax.
Admitted.
