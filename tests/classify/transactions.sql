-- Transaction control and savepoints.
-- target: public.fact_sales

-- expect: BEGIN flags=begin
BEGIN;

-- expect: BEGIN flags=begin
begin transaction isolation level serializable, read write;

-- expect: BEGIN flags=begin
BEGIN WORK;

-- expect: START TRANSACTION flags=begin
START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY DEFERRABLE;

-- expect: COMMIT flags=end
COMMIT;

-- expect: COMMIT flags=end
END;

-- expect: COMMIT flags=end
end transaction;

-- expect: COMMIT flags=begin,end
COMMIT AND CHAIN;

-- expect: COMMIT flags=end
COMMIT AND NO CHAIN;

-- expect: ROLLBACK flags=end
ROLLBACK;

-- expect: ROLLBACK flags=end
ABORT WORK;

-- expect: ROLLBACK flags=begin,end
ROLLBACK AND CHAIN;

-- expect: SAVEPOINT flags=savepoint
SAVEPOINT before_load;

-- expect: RELEASE flags=savepoint
RELEASE SAVEPOINT before_load;

-- expect: RELEASE flags=savepoint
RELEASE before_load;

-- expect: ROLLBACK TO flags=savepoint
ROLLBACK TO SAVEPOINT before_load;

-- expect: ROLLBACK TO flags=savepoint
ROLLBACK WORK TO before_load;

-- expect: PREPARE TRANSACTION flags=end
PREPARE TRANSACTION 'load-42';

-- expect: COMMIT PREPARED flags=end
COMMIT PREPARED 'load-42';

-- expect: ROLLBACK PREPARED flags=end
ROLLBACK PREPARED 'load-42';

-- case: a savepoint inside a load
-- expect: BEGIN flags=begin
-- expect: SAVEPOINT flags=savepoint
-- expect: DELETE writes=public.fact_sales
-- expect: ROLLBACK TO flags=savepoint
-- expect: COMMIT flags=end
BEGIN; SAVEPOINT a; DELETE FROM fact_sales; ROLLBACK TO a; COMMIT;

-- case: SET TRANSACTION is not a transaction boundary
-- expect: SET
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
