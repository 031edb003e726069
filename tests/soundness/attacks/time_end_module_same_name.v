(* attack: Time End closes a module early; a clean constant of the same name follows | false: M.bad *)
Module M.
Theorem bad : 1 = 2.
Proof. Time Admitted.
Time End M.
Theorem bad : 1 = 1.
Proof. reflexivity. Qed.
