import { databaseConformance } from './conformance.ts';
import { tempSqlite } from '../helpers/databases.ts';

databaseConformance('SQLite', tempSqlite);
