(* attack: allow a Conjecture (an admitted statement) | false: t | args: --allow-axiom c *)
Conjecture c : 1 = 2.
Theorem t : 1 = 2.
Proof. exact c. Qed.
