(* attack: Print Universes writes a file of its choosing next to the build | false: bad *)
Axiom ax : 1 = 2.
Theorem bad : 1 = 2.
Proof. exact ax. Qed.
Print Universes "Main.vo".
Print Universes "Main".
