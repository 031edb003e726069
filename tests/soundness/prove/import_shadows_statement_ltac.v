(* prove: the policy's import (From Coq Require Import Lia), placed just before the renamed statement, shadows the file's own Ltac lia that the statement runs, so the check file's statement is True while the user's is False | theorem: t *)
Ltac lia := exact False.
Theorem t : ltac:(first [ lia | exact True ]).
Proof.
Admitted.
